"""No attack: the clean reference every attacked cell is compared with."""

from fedarena.attacks.base import ATTACKS, Attack


@ATTACKS.register("none")
class NoAttack(Attack):
    """Every shopper is honest; a malicious fraction, if given, only marks clients."""
