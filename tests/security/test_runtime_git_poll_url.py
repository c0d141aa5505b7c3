"""Attack: a Git polling ``url`` that git reads as an option or a command-running transport.

``--upload-pack=touch /tmp/x`` as url runs a command on the worker; ``ext::sh -c …`` too. The
url is validated (at load and when polled) and passed after ``--`` with GIT_ALLOW_PROTOCOL.
Fails if validate_url or the ``--`` were removed.
"""

from __future__ import annotations

import textwrap

import pytest

from kestra_dagster.errors import FlowValidationError
from kestra_dagster.model.loader import parse_flow
from kestra_dagster.triggers.git_poll import GitPollError, ls_remote

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("url", [
    "--upload-pack=touch {marker}",
    "ext::sh -c touch% {marker}",
    "fd::17",
    "ext::/bin/touch {marker}",
    "relative/path",
])
def test_option_and_transport_urls_are_refused_and_run_nothing(url, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(GitPollError):
        ls_remote(url.format(marker=marker), timeout=10)
    assert not marker.exists()


def test_an_https_remote_still_reaches_git():
    # nothing listens on port 9: git runs with the url after "--" and reports its own failure
    with pytest.raises(GitPollError, match="exited"):
        ls_remote("https://127.0.0.1:9/none.git", timeout=10)


def test_invalid_url_is_a_validation_error_with_its_line():
    text = textwrap.dedent("""
        id: poll
        namespace: company.team
        tasks:
          - id: hi
            type: io.kestra.plugin.core.log.Log
            message: hi
        triggers:
          - id: git
            type: io.kestra_dagster.plugin.git.Polling
            url: "--upload-pack=touch /tmp/x"
    """)
    with pytest.raises(FlowValidationError) as info:
        parse_flow(text, file="poll.yaml")
    assert any("must not start with '-'" in i.message and i.line >= 9 for i in info.value.issues)
