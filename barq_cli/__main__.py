from barq_cli.main import main

if __name__ == "__main__":
    main()
