"""Games: specs (YAML), expressions, parameters, Markov and normal-form models, .nfg files.

A spec resolves to a :class:`~sgncert.games.model.Game`: players, a JAX pseudo-gradient
``F(x, p)``, parameters, the region and how it is sampled. Nothing here computes a
certificate; :mod:`sgncert.analysis` does.
"""

from .model import Game as Game
from .model import Player as Player
from .model import Region as Region
from .model import Sampling as Sampling
from .spec import game_from_dict as game_from_dict
from .spec import load_game as load_game
from .spec import with_params as with_params
