class Marker:
    """A host's custom middleware: marks every response, so the oracle sees it still runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response["X-Corsd-Oracle-Marker"] = "1"
        return response
