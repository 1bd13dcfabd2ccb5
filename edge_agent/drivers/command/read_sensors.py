"""An example program for the ``command`` driver: an accelerometer at 200 Hz and a
thermometer at 1 Hz, printed as JSON lines (stream mode). Replace it with your own."""

import json
import math
import random
import sys
import time

RATE_HZ = 200


def main() -> None:
    tick = 0
    start = time.time()
    while True:
        t = start + tick / RATE_HZ
        values = {"vibration_g": 0.5 * math.sin(2 * math.pi * 30 * t) + random.gauss(0, 0.05)}
        if tick % RATE_HZ == 0:
            values["temp_c"] = 60 + math.sin(t / 600)
        print(json.dumps({"ts": round(t, 4), "values": values}), flush=True)
        tick += 1
        time.sleep(max(0.0, start + tick / RATE_HZ - time.time()))


if __name__ == "__main__":
    try:
        main()
    except (KeyboardInterrupt, BrokenPipeError):
        sys.exit(0)
