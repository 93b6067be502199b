from cloudlet.cli.main import main

main()
