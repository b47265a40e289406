"""Jobs and the scheduler that runs them on time, and owes what it missed."""
