"""Keras-named tensor ops for custom layers (`keras.ops`), thin over JAX.

`shoal.ops.numpy`, `.nn`, `.math`, `.core`, `.linalg` are flattened into this
namespace as in Keras; `shoal.ops.image` stays a sub-namespace.
"""

from shoal.ops import core as core
from shoal.ops import image as image
from shoal.ops import linalg as linalg
from shoal.ops import math as math
from shoal.ops import nn as nn
from shoal.ops import numpy as numpy
from shoal.ops.adaptive_pooling import *  # noqa: F403
from shoal.ops.core import *  # noqa: F403
from shoal.ops.counting import *  # noqa: F403
from shoal.ops.linalg import *  # noqa: F403
from shoal.ops.math import *  # noqa: F403
from shoal.ops.nn import *  # noqa: F403
from shoal.ops.numpy import *  # noqa: F403
from shoal.ops.rearrange import rearrange as rearrange
