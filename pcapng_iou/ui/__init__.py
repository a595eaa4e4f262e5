"""What a person sees: the live dashboard, the console reporter and the
Wireshark extcap interface."""
