"""Imported first by the fork server (:data:`pipeline.forkserver.PRELOAD`): the cyclic garbage
collector waits until :mod:`pipeline._preloaded` (imported last) freezes what the preload imported.

Its passes over the objects of the modules being imported took 10–15 % of the preload's time
(1.3–1.65 s with it, 1.2–1.5 s without: four interleaved pairs on this 2-core machine), which
lies on the path to a run's first chunk; importing makes no garbage worth collecting.
"""

import gc

gc.disable()
