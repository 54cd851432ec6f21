"""Request and response models, one module per resource, named by role. They check shapes;
the limits in settings and the rules that need the ML core or a stored card are the use
cases' (service/usecases/checks.py)."""
