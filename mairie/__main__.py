from mairie.cli import main

main()
