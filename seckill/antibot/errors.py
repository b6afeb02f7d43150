"""The anti-bot refusals (each with its HTTP status): a purchase path's, and a challenge's."""

from rest_framework import status

from seckill_site.errors import SeckillError


class PathRefused(SeckillError):
    """A purchase refused for its path (each kind below): nothing was spent, and a retry with a new path may pass."""


class PathRequired(PathRefused):
    code = "path_required"
    http_status = status.HTTP_403_FORBIDDEN
    default_detail = "This product is sold through one-time purchase paths: take one (POST .../path/) first."


class PathInvalid(PathRefused):
    code = "path_invalid"
    http_status = status.HTTP_403_FORBIDDEN
    default_detail = "The purchase path is not one this server issued."


class PathOtherBuyer(PathRefused):
    code = "path_other_buyer"
    http_status = status.HTTP_403_FORBIDDEN
    default_detail = "The purchase path was issued to another buyer."


class PathOtherProduct(PathRefused):
    code = "path_other_product"
    http_status = status.HTTP_403_FORBIDDEN
    default_detail = "The purchase path was issued for another product."


class PathExpired(PathRefused):
    code = "path_expired"
    http_status = status.HTTP_403_FORBIDDEN
    default_detail = "The purchase path has expired: take a new one."


class PathUsed(PathRefused):
    code = "path_used"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "The purchase path was used already: each path admits one purchase attempt."


class PathNotRequired(SeckillError):
    code = "path_not_required"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "This product is sold without purchase paths: buy it directly."


class PathNotOpen(SeckillError):
    code = "path_not_open"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "Challenges and purchase paths are not issued yet for this sale."


class ChallengeRefused(SeckillError):
    """A path refused for the solution it was asked with (each kind below)."""


class ChallengeNotRequired(SeckillError):
    code = "challenge_not_required"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "This product is sold without a challenge."


class ChallengeRequired(ChallengeRefused):
    code = "challenge_required"
    http_status = status.HTTP_403_FORBIDDEN
    default_detail = "This product's paths cost a solved challenge (GET .../challenge/): send its solution."


class ChallengeInvalid(ChallengeRefused):
    code = "challenge_invalid"
    http_status = status.HTTP_403_FORBIDDEN
    default_detail = "The challenge's solution is wrong, or the challenge is not one this server issued."


class ChallengeExpired(ChallengeRefused):
    code = "challenge_expired"
    http_status = status.HTTP_403_FORBIDDEN
    default_detail = "The challenge has expired: ask for a new one."


class ChallengeOtherBuyer(ChallengeRefused):
    code = "challenge_other_buyer"
    http_status = status.HTTP_403_FORBIDDEN
    default_detail = "The challenge was issued to another buyer."


class ChallengeOtherProduct(ChallengeRefused):
    code = "challenge_other_product"
    http_status = status.HTTP_403_FORBIDDEN
    default_detail = "The challenge was issued for another product."


class ChallengeUsed(ChallengeRefused):
    code = "challenge_used"
    http_status = status.HTTP_409_CONFLICT
    default_detail = "This solution was used already: each solved challenge buys one path."
