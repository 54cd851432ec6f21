"""HTTP routers, one file per resource. They translate and delegate; no ML here."""
