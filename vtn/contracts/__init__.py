"""GB contract terms per program and dispatch unit, the availability cycle and acknowledgement deadlines."""
