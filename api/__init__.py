"""Entry points: the command line and (later) HTTP. They translate; the rules live inward."""
