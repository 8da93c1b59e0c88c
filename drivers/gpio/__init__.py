"""GPIO through gpiozero: breaker coils, status contacts, grid sense, contactors."""
