from lsimport.cli import main

main()
