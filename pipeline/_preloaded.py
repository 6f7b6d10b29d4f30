"""Imported last by the fork server (:data:`pipeline.forkserver.PRELOAD`): what it has imported
moves to the collector's permanent generation, and the collector (paused by
:mod:`pipeline._preloading` meanwhile) runs again.

Those objects live as long as the server and its workers anyway. Frozen, they are not walked again
by the workers' full collections, nor by the server's last one when it exits with the run (~0.3 s
in a timed run: the run's output pipe stays open until then).
"""

import gc

gc.freeze()
gc.enable()
