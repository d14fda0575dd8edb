from afa_cli.cli import main

main()
