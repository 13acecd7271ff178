"""At the end of it all (this module sorts last in the package, so it runs after every
attack on the shared server): nothing leaked into the good clients."""

from __future__ import annotations

from .conftest import World
from .support import EVIL


def test_nothing_leaked_into_the_good_clients(w: World) -> None:
    for good in w.good:
        assert EVIL not in good.everything()
        assert not good.disconnected
    w.check()
