from torchkata.cli import main

raise SystemExit(main())
