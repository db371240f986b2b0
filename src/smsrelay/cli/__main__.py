from smsrelay.cli import main

main()
