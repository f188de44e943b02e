"""viprepro: rerun VIPriors challenge submissions end to end and check their claims."""

__version__ = "0.1.0"
