"""BACnet/IP: the driver, the shared client stack and the simulated device (bacpypes3)."""
