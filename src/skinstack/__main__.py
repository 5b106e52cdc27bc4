from skinstack.cli import main

main()
