"""Where a verdict is made: the prompt and the model's answer (classifier), its token
probabilities (confidence), the keywords found (keywords), whether the document is in the
categories' language (language), what labelled examples say (examples), all of it weighed
into one verdict and its confidence (evidence). Lines a document uses to give the model
orders are dropped first (guard)."""
