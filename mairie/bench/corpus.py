"""Synthetic French-looking text with a Zipf word distribution, fast to generate, for the search benchmark.

The most frequent words are real French words (stop words included, as in real letters); the long tail is
made of pronounceable pseudo-words. Word ranks give the frequency classes the benchmark queries:
a word of rank r appears in a document of n words with probability about 1 - (1 - 1/(r·H))^n.
"""

from __future__ import annotations

import itertools
import random
from functools import cached_property

HEAD_TEXT = """de la le et les des à du en un une pour par au sur que qui dans est pas ce avec
commune mairie demande conseil municipal monsieur madame maire courrier dossier service rue travaux
projet réunion délibération permis construire école cantine parents enfants habitants voirie eau
assainissement urbanisme budget subvention association fête salle place chemin route bâtiment terrain
parcelle cadastre état civil acte naissance mariage décès certificat attestation facture paiement
montant euros devis entreprise marché public préfecture département région intercommunalité syndicat
collecte déchets ordures tri éclairage public stationnement circulation sécurité incendie pompiers
gendarmerie police bruit nuisance voisinage arbre élagage haie clôture mur toiture façade déclaration
préalable autorisation arrêté réglementation horaires ouverture fermeture accueil secrétariat agent
personnel recrutement formation congé élection liste électorale inscription rentrée scolaire transport
bus ramassage garderie périscolaire sport stade gymnase bibliothèque culture patrimoine église cimetière
concession tombe jardin espace vert fleurissement marché forain commerce artisan agriculteur vigne
cave coopérative tourisme gîte camping randonnée sentier rivière pont fossé inondation sinistre
assurance réclamation recours tribunal avocat courrier réponse délai échéance relance rappel copie
"""
HEAD = HEAD_TEXT.split()

CONSONANTS = "bcdfglmnprstv"
VOWELS = "aeiouéèa"
ENDINGS = ["", "", "", "e", "on", "ière", "ard", "ette", "ois", "ent", "ade", "is"]


def pseudo_words(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        syllables = rng.randint(2, 4)
        word = "".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(syllables))
        word += rng.choice(ENDINGS)
        if word not in seen:
            seen.add(word)
            out.append(word)
    return out


class Corpus:
    def __init__(self, vocabulary_size: int = 20_000, exponent: float = 1.0) -> None:
        head = list(dict.fromkeys(HEAD))
        self.words = head + pseudo_words(vocabulary_size - len(head))
        weights = [1.0 / (rank**exponent) for rank in range(1, len(self.words) + 1)]
        self.cum_weights = list(itertools.accumulate(weights))

    def text(self, rng: random.Random, length: int) -> str:
        words = rng.choices(self.words, cum_weights=self.cum_weights, k=length)
        # Sentences, so that the text looks like a letter to the normaliser (punctuation, capitals).
        for position in range(0, length, 12):
            words[position] = words[position].capitalize()
            if position:
                words[position - 1] += "."
        return " ".join(words) + "."

    def subject(self, rng: random.Random) -> str:
        return " ".join(rng.choice(self.words[20:3000]) for _ in range(rng.randint(4, 8))).capitalize()

    @cached_property
    def word_rank(self) -> dict[str, int]:
        return {word: rank for rank, word in enumerate(self.words, start=1)}

    def words_between(self, first_rank: int, last_rank: int, count: int, seed: int) -> list[str]:
        """``count`` words of ranks in [first_rank, last_rank] that the normaliser keeps as one term."""
        from mairie.search.normalise import query_terms

        rng = random.Random(seed)
        pool = self.words[first_rank - 1 : last_rank]
        rng.shuffle(pool)
        return [w for w in pool if len(query_terms(w)) == 1][:count]
