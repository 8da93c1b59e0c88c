"""Modbus TCP/RTU with SunSpec: codec, block planner, pymodbus wrapper, driver."""
