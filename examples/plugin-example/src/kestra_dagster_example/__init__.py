"""An example kestra-dagster plugin: ``io.example.greetings.Greet`` and ``io.example.greetings.Shout``.

kestra-dagster finds this module through the ``kestra_dagster.plugins`` entry point declared in
pyproject.toml and registers the classes listed in ``TASKS``.
"""

from kestra_dagster_example.greet import Greet, Shout

TASKS = [Greet, Shout]
