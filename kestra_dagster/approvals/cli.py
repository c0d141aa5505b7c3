import click


@click.command()
def resume():
    """stub"""
