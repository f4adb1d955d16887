"""Commits in the default transactional test case: what production runs on
commit (converges, mismatch checks, live events), run at the point where
production would commit, through pytest-django's
django_capture_on_commit_callbacks(execute=True)."""


def commit_each_post(client, django_capture_on_commit_callbacks):
    """The test client, each POST committing as in production: its
    on-commit callbacks run when the request ends."""
    post = client.post

    def committing_post(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return post(*args, **kwargs)

    client.post = committing_post
    return client
