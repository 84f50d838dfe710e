"""Route plans: planning jobs, dispatcher edits, publication and the priority ranking."""
