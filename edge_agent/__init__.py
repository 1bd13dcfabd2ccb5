"""The Forestall edge agent: read sensors, buffer on disk, publish over MQTT (see README.md).

Kept light on purpose: this package imports only the standard library, paho-mqtt and
``forestall.contract`` / ``mqtturl`` / ``clock``, never the server stack; numpy only when
feature channels are configured, pymodbus only when a Modbus driver connects.
"""
