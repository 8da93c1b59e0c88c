"""The running appliance: device services, the market operator loop, the trader, islanding."""
