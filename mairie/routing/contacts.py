"""Find the sender of a letter among the organisation's contacts: by e-mail, by name, by address.

A French letter opens with its sender's block, top left: name, street, postal code and town; the
recipient's block (« Mairie de … ») follows. Only the first lines of the first document are read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mairie.courrier.models import Contact
from mairie.courrier.services import contact_match_key
from mairie.organisations.models import Organisation
from mairie.search.normalise import fold

EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
POSTAL_RE = re.compile(r"^\s*(?:F-?\s*)?(\d{5})\s+([A-Za-zÀ-ÿ'’\- ]{2,80}?)\s*(?:cedex.*)?$", re.IGNORECASE)
STREET_RE = re.compile(
    r"^\s*(?:\d{1,4}\s*(?:bis|ter|b)?\s*,?\s+)?(?:rue|chemin|avenue|av\.|boulevard|bd|place|impasse|route|all[ée]e|"
    r"lieu-dit|lieudit|hameau|quai|cours|square|r[ée]sidence|lotissement|mont[ée]e|passage|voie|sentier)\b",
    re.IGNORECASE,
)
RECIPIENT_WORDS = ("mairie", "maire", "hotel de ville", "a l'attention", "service")
HEADER_LINES = 15


def folded_key(text: str) -> str:
    return " ".join(fold(text).replace("’", "'").split())


@dataclass
class SenderBlock:
    name: str = ""
    address_line1: str = ""
    postal_code: str = ""
    city: str = ""
    emails: list[str] = field(default_factory=list)

    def as_contact_fields(self) -> dict[str, str]:
        fields = {
            "name": self.name,
            "address_line1": self.address_line1,
            "postal_code": self.postal_code,
            "city": self.city,
        }
        if self.emails:
            fields["email"] = self.emails[0]
        return {key: value for key, value in fields.items() if value}


def _is_name(line: str) -> bool:
    words = line.split()
    return (
        1 <= len(words) <= 6
        and not any(ch.isdigit() for ch in line)
        and not any(w in folded_key(line) for w in RECIPIENT_WORDS)
        and not line.rstrip().endswith((",", ":", "."))
    )


def parse_sender(text: str, ignore_emails: frozenset[str] | set[str] = frozenset()) -> SenderBlock:
    """The sender's block at the top of a letter (empty fields when it cannot be read)."""
    block = SenderBlock()
    block.emails = [
        e for e in dict.fromkeys(m.lower() for m in EMAIL_RE.findall(text[:20000])) if e not in ignore_emails
    ]
    lines = [line.strip() for line in text[:3000].splitlines() if line.strip()][:HEADER_LINES]
    for index, line in enumerate(lines):
        postal = POSTAL_RE.match(line)
        if not postal:
            continue
        above = lines[max(0, index - 3) : index]
        if any(any(w in folded_key(a) for w in ("mairie", "hotel de ville")) for a in above):
            continue  # the recipient's block
        street = next((a for a in reversed(above) if STREET_RE.match(a)), "")
        names = [a for a in above if a != street and _is_name(a)]
        block.name = names[0] if names else ""
        block.address_line1 = street
        block.postal_code = postal.group(1)
        block.city = postal.group(2).strip()
        break
    return block


def _street_key(line: str) -> str:
    return re.sub(r"[^a-z0-9 ]", " ", folded_key(line)).split(",")[0].strip()


def _same_street(a: str, b: str) -> bool:
    return bool(a and b) and " ".join(_street_key(a).split()) == " ".join(_street_key(b).split())


@dataclass
class ContactMatch:
    contact: Contact | None
    reason: str
    proposal: dict[str, str]


def match_contact(organisation: Organisation, text: str) -> ContactMatch:
    """An existing contact for the letter's sender, or the fields of a new one, or nothing."""
    own = {e.lower() for e in [organisation.email] if e}
    block = parse_sender(text, own)
    contacts = Contact.objects.for_org(organisation)
    if block.emails:
        keys = ["@" + email for email in block.emails]
        by_email = contacts.filter(match_key__in=keys).first()
        if by_email is not None:
            return ContactMatch(by_email, "même adresse électronique", {})
    if block.name:
        name_key = contact_match_key(block.name)  # the key contacts are stored under
        words = name_key.split()
        name_keys = {name_key, " ".join(reversed(words))}  # « MERCIER Élodie » is Élodie Mercier
        named = list(contacts.filter(match_key__in=sorted(name_keys))[:20])
        if block.postal_code:
            named += [
                c
                for c in contacts.filter(postal_code=block.postal_code)[:500]
                if contact_match_key(f"{c.first_name} {c.name}") in name_keys
                or contact_match_key(c.name) in name_keys
            ]
        for contact in named:
            if contact.postal_code == block.postal_code and _same_street(
                contact.address_line1, block.address_line1
            ):
                return ContactMatch(contact, "même nom et même adresse", {})
        if named:
            return ContactMatch(named[0], "même nom", {})
    if block.postal_code and block.address_line1:
        for contact in contacts.filter(postal_code=block.postal_code)[:500]:
            if _same_street(contact.address_line1, block.address_line1):
                return ContactMatch(contact, "même adresse postale", {})
    proposal = block.as_contact_fields() if block.name else {}
    return ContactMatch(None, "", proposal)
