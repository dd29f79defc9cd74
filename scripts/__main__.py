from slotqueue.scripts.cli import main

main()
