"""Random container names, Docker style: ``adjective_surname``.

The two word lists are Docker's (moby's ``namesgenerator``, Apache-2.0; see
NOTICE), frozen upstream, so a name pyctr gives looks like one Docker gives:
108 adjectives x 236 scientists and hackers, about 25,488 names. As in Docker,
``boring_wozniak`` is never chosen (Steve Wozniak is not boring), and a retry
after a name conflict appends a digit (``jolly_hopper7``).
"""

from __future__ import annotations

import os

LEFT = tuple("""
admiring adoring affectionate agitated amazing angry awesome beautiful blissful bold boring brave
busy charming clever compassionate competent condescending confident cool cranky crazy dazzling
determined distracted dreamy eager ecstatic elastic elated elegant eloquent epic exciting fervent
festive flamboyant focused friendly frosty funny gallant gifted goofy gracious great happy hardcore
heuristic hopeful hungry infallible inspiring intelligent interesting jolly jovial keen kind
laughing loving lucid magical modest musing mystifying naughty nervous nice nifty nostalgic
objective optimistic peaceful pedantic pensive practical priceless quirky quizzical recursing
relaxed reverent romantic sad serene sharp silly sleepy stoic strange stupefied suspicious sweet
tender thirsty trusting unruffled upbeat vibrant vigilant vigorous wizardly wonderful xenodochial
youthful zealous zen
""".split())

RIGHT = tuple("""
agnesi albattani allen almeida antonelli archimedes ardinghelli aryabhata austin babbage banach
banzai bardeen bartik bassi beaver bell benz bhabha bhaskara black blackburn blackwell bohr booth
borg bose bouman boyd brahmagupta brattain brown buck burnell cannon carson cartwright carver cerf
chandrasekhar chaplygin chatelet chatterjee chaum chebyshev clarke cohen colden cori cray curie
curran darwin davinci dewdney dhawan diffie dijkstra dirac driscoll dubinsky easley edison einstein
elbakyan elgamal elion ellis engelbart euclid euler faraday feistel fermat fermi feynman franklin
gagarin galileo galois ganguly gates gauss germain goldberg goldstine goldwasser golick goodall
gould greider grothendieck haibt hamilton haslett hawking heisenberg hellman hermann herschel hertz
heyrovsky hodgkin hofstadter hoover hopper hugle hypatia ishizaka jackson jang jemison jennings
jepsen johnson joliot jones kalam kapitsa kare keldysh keller kepler khayyam khorana kilby kirch
knuth kowalevski lalande lamarr lamport leakey leavitt lederberg lehmann lewin lichterman liskov
lovelace lumiere mahavira margulis matsumoto maxwell mayer mccarthy mcclintock mclaren mclean
mcnulty meitner mendel mendeleev meninsky merkle mestorf mirzakhani montalcini moore morse moser
murdock napier nash neumann newton nightingale nobel noether northcutt noyce panini pare pascal
pasteur payne perlman pike poincare poitras proskuriakova ptolemy raman ramanujan rhodes ride
ritchie robinson roentgen rosalind rubin saha sammet sanderson satoshi shamir shannon shaw shirley
shockley shtern sinoussi snyder solomon spence stonebraker sutherland swanson swartz swirles taussig
tesla tharp thompson torvalds tu turing varahamihira vaughan villani visvesvaraya volhard wescoff
wilbur wiles williams williamson wilson wing wozniak wright wu yalow yonath zhukovsky
""".split())


def random_name(retry: int = 0) -> str:
    """A name; ``retry`` > 0 (after a conflict) appends a digit 0-9, as Docker's GetRandomName."""
    # os.urandom, not the random module: its import (hashlib, bisect) costs more than a name
    while True:
        raw = os.urandom(8)
        a = int.from_bytes(raw[:4], "little") % len(LEFT)
        b = int.from_bytes(raw[4:], "little") % len(RIGHT)
        name = f"{LEFT[a]}_{RIGHT[b]}"
        if name != "boring_wozniak":
            break
    if retry > 0:
        name += str(os.urandom(1)[0] % 10)
    return name
