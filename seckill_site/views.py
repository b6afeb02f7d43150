from django.utils import timezone
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


class ServerTimeApi(APIView):
    """The server's clock, for clients' countdowns to a sale."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        now = timezone.now()
        return Response({"now": now.isoformat(), "epoch_ms": int(now.timestamp() * 1000)})
