from moco.cli import main

main()
