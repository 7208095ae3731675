from tensorc.cli import main

raise SystemExit(main())
