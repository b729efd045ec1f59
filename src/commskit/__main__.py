from commskit.cli import main

main()
