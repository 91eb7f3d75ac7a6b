"""What ``dita report`` computes and draws: statistics, the journal reader, the HTML page."""
