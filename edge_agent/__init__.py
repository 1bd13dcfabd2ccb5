"""The Forestall edge agent: read sensors, buffer on disk, publish over MQTT (see README.md).

Kept light on purpose: this package imports only the standard library, numpy, paho-mqtt
and ``forestall.contract`` / ``mqtturl`` / ``clock``, never the server stack.
"""
