"""OPC UA: the driver, the client session and the simulated server (asyncua)."""
