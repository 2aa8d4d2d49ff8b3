import sys
from pathlib import Path

# The SDK from this checkout, without installing it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
