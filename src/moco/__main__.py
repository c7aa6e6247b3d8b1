from moco.entry import main

main()
