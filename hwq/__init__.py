"""hwq: compressed neural networks on hardware.

One IR (:mod:`hwq.ir`) feeds a golden integer model (:mod:`hwq.golden`) and the back
ends (cost model, C generator, RTL). Data flows one way: IR -> everything else.
"""

__version__ = "0.1.0"
