#!/usr/bin/env bash
# Installs the Debian packages Mairie needs. Usage: scripts/system-deps.sh run|test|bench
# As root: installs what is missing with apt-get. As another user: prints the exact
# apt-get command to run and carries on (features needing a missing tool say so clearly).
set -euo pipefail

profile="${1:-run}"

run_packages=(
  tesseract-ocr tesseract-ocr-fra   # OCR in French
  ghostscript poppler-utils         # PDF rasterising, pdftotext, pdftoppm
  unpaper pngquant                  # optional OCRmyPDF cleaners
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core  # WeasyPrint
  postgresql-client                 # pg_dump / pg_restore for backups on PostgreSQL
  util-linux                        # taskset (benchmarks)
  libreoffice-writer-nogui libreoffice-calc-nogui  # office attachments converted to PDF (headless)
  fonts-liberation2                 # metric-compatible fonts for office documents
)
test_packages=(
  chromium                          # browser tests (Playwright drives the system Chromium)
  clamav-daemon clamav              # antivirus tests (clamd with a test signature)
  nodejs npm                        # axe-core for accessibility checks
  dovecot-imapd                     # e-mail intake tests (a throw-away IMAP server on loopback)
)

bench_packages=(
  wrk                               # HTTP load generator (benchmark B5)
)

packages=("${run_packages[@]}")
if [ "$profile" = "test" ] || [ "$profile" = "bench" ]; then
  packages+=("${test_packages[@]}")
fi
if [ "$profile" = "bench" ]; then
  packages+=("${bench_packages[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  # nodejs/npm may come from outside Debian (NodeSource, image): accept the commands.
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" = "0" ]; then
  echo "==> Installation des paquets Debian : ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "!! Paquets Debian manquants : ${missing[*]}"
  echo "!! Installez-les avec : sudo apt-get install -y ${missing[*]}"
  echo "!! On continue sans eux ; les fonctions qui en dépendent le signaleront."
fi
