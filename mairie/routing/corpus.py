"""A labelled corpus of generated French courriers to a small commune, to measure routing.

Each letter belongs to one of the usual services of a commune of a few hundred inhabitants. Topics come
with several subjects and several wordings of each paragraph; senders, streets, dates, amounts and the
courtesy formulas vary; some letters have a vague subject (« Demande », « Votre courrier »), some mention
words of another service (a death leads to a cemetery concession, a school bill to the treasury), so that
a keyword cannot answer alone. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mairie.demo.letters import FIRST_NAMES, LAST_NAMES, STREETS

SERVICES: dict[str, str] = {
    "accueil": "Accueil et secrétariat",
    "etat_civil": "État civil",
    "urbanisme": "Urbanisme",
    "technique": "Services techniques",
    "scolaire": "Affaires scolaires",
    "finances": "Finances",
    "social": "CCAS",
    "elections": "Élections",
    "cimetiere": "Cimetière",
}

# How often each service receives mail in a small commune (relative).
FREQUENCY: dict[str, int] = {
    "accueil": 3,
    "etat_civil": 3,
    "urbanisme": 3,
    "technique": 4,
    "scolaire": 2,
    "finances": 3,
    "social": 2,
    "elections": 1,
    "cimetiere": 1,
}


@dataclass(frozen=True)
class Topic:
    service: str
    kind: str
    subjects: tuple[str, ...]
    paragraphs: tuple[tuple[str, ...], ...]  # one wording is picked in each tuple


T = Topic
TOPICS: tuple[Topic, ...] = (
    # --- État civil -------------------------------------------------------------------------------
    T(
        "etat_civil",
        "request",
        (
            "Demande d'acte de naissance",
            "Copie intégrale d'acte",
            "Demande d'extrait d'acte",
            "Demande de document",
        ),
        (
            (
                "Je vous serais reconnaissant de bien vouloir me faire parvenir une copie intégrale de mon acte de naissance.",
                "Pourriez-vous m'adresser un extrait avec filiation de mon acte de naissance ?",
                "Je sollicite la délivrance d'une copie de l'acte de naissance de mon fils {child}, né dans votre commune.",
            ),
            (
                "Ce document m'est demandé pour le renouvellement de ma carte nationale d'identité.",
                "Il est nécessaire à la constitution de mon dossier de passeport.",
                "Le notaire chargé de la succession de mes parents me le réclame.",
                "Mon employeur en a besoin pour mettre à jour mon dossier.",
            ),
            (
                "Je suis né(e) le {date} à {commune}.",
                "Vous trouverez ci-joint la copie de ma pièce d'identité.",
                "Je joins une enveloppe timbrée pour la réponse.",
            ),
        ),
    ),
    T(
        "etat_civil",
        "request",
        ("Projet de mariage", "Dossier de mariage", "Célébration de notre union", "Demande de rendez-vous"),
        (
            (
                "Nous envisageons de nous marier dans votre commune au cours de l'été prochain.",
                "Mon compagnon et moi souhaitons célébrer notre mariage en mairie le samedi {date}.",
                "Nous aimerions connaître les pièces à fournir pour constituer notre dossier de mariage.",
            ),
            (
                "Pourriez-vous nous indiquer les démarches et la date limite de dépôt du dossier ?",
                "Nous souhaiterions prendre rendez-vous avec l'officier de l'état civil pour la publication des bans.",
                "Merci de nous préciser la liste des justificatifs et les témoins nécessaires.",
            ),
            (
                "L'un de nous réside dans la commune depuis plus d'un mois.",
                "Nos parents habitent {street}, dans votre commune.",
            ),
        ),
    ),
    T(
        "etat_civil",
        "request",
        ("Déclaration de décès", "Décès de ma mère", "Succession — acte de décès", "Demande d'actes"),
        (
            (
                "J'ai la douleur de vous informer du décès de ma mère survenu le {date} à son domicile.",
                "Suite au décès de mon époux, je vous remercie de m'adresser plusieurs copies de l'acte de décès.",
                "Les pompes funèbres m'ont indiqué que l'acte de décès devait être demandé à votre mairie.",
            ),
            (
                "Ces copies sont nécessaires pour les démarches auprès de la banque et de la caisse de retraite.",
                "Je dois transmettre ces documents au notaire chargé de la succession.",
                "Merci également de mettre à jour notre livret de famille.",
            ),
        ),
    ),
    T(
        "etat_civil",
        "request",
        ("Livret de famille", "Duplicata du livret de famille", "Mise à jour du livret", "Demande"),
        (
            (
                "Suite à notre séparation, je souhaite obtenir un second livret de famille.",
                "Notre livret de famille a été perdu lors de notre déménagement ; nous en demandons un duplicata.",
                "Je vous transmets notre livret de famille pour y inscrire la naissance de notre second enfant.",
            ),
            (
                "Vous trouverez ci-joint le formulaire complété et nos pièces d'identité.",
                "Je reste à votre disposition pour tout renseignement complémentaire.",
            ),
        ),
    ),
    T(
        "etat_civil",
        "request",
        ("PACS", "Enregistrement d'un pacte civil de solidarité", "Demande de rendez-vous en mairie"),
        (
            (
                "Nous souhaitons conclure un pacte civil de solidarité et faire enregistrer notre convention en mairie.",
                "Mon partenaire et moi voudrions nous pacser ; pouvez-vous nous fixer un rendez-vous ?",
            ),
            (
                "Nous joignons la convention type et nos actes de naissance de moins de trois mois.",
                "Merci de nous indiquer les créneaux disponibles.",
            ),
        ),
    ),
    T(
        "etat_civil",
        "request",
        ("Reconnaissance anticipée", "Naissance à venir", "Changement de prénom"),
        (
            (
                "Nous attendons un enfant pour le mois de {month} et souhaitons effectuer une reconnaissance anticipée.",
                "Je souhaite engager une procédure de changement de prénom pour ma fille {child}.",
                "Mon fils est né le {date} à la maternité ; nous souhaitons faire transcrire sa naissance.",
            ),
            (
                "Merci de me préciser les documents à apporter lors du rendez-vous.",
                "Je vous remercie de me recevoir à la mairie à votre convenance.",
            ),
        ),
    ),
    # --- Urbanisme --------------------------------------------------------------------------------
    T(
        "urbanisme",
        "request",
        (
            "Dépôt d'un permis de construire",
            "Projet de construction",
            "Permis de construire",
            "Demande d'autorisation",
        ),
        (
            (
                "Je vous adresse en trois exemplaires mon dossier de demande de permis de construire pour une maison individuelle sur la parcelle cadastrée {parcel}.",
                "Nous projetons de construire une habitation de plain-pied sur le terrain que nous venons d'acquérir {street}.",
                "Vous trouverez ci-joint le dossier de permis de construire relatif à l'agrandissement de notre grange.",
            ),
            (
                "Le projet respecte les règles du plan local d'urbanisme en zone UB.",
                "L'architecte reste à votre disposition pour toute pièce manquante.",
                "Le dossier comprend le plan de masse, les plans des façades et la notice paysagère.",
            ),
        ),
    ),
    T(
        "urbanisme",
        "request",
        (
            "Déclaration préalable",
            "Travaux de clôture",
            "Abri de jardin",
            "Pose de panneaux solaires",
            "Demande",
        ),
        (
            (
                "Je souhaite édifier une clôture en limite de propriété et vous adresse ma déclaration préalable.",
                "Je projette d'installer un abri de jardin de 12 m² au fond de mon terrain.",
                "Nous envisageons la pose de panneaux photovoltaïques sur la toiture de notre maison.",
                "Je dépose une déclaration préalable pour la création d'une piscine enterrée.",
            ),
            (
                "Le projet est situé sur la parcelle {parcel}.",
                "Les plans et photographies sont joints au formulaire Cerfa.",
                "Merci de m'indiquer si une pièce complémentaire est nécessaire.",
            ),
        ),
    ),
    T(
        "urbanisme",
        "request",
        (
            "Certificat d'urbanisme",
            "Renseignements d'urbanisme",
            "Vente d'un terrain",
            "Demande de renseignements",
        ),
        (
            (
                "Dans le cadre de la vente d'un terrain, je sollicite un certificat d'urbanisme d'information pour la parcelle {parcel}.",
                "Notre étude notariale vous prie de lui délivrer un certificat d'urbanisme pour le bien situé {street}.",
                "Pourriez-vous m'indiquer si mon terrain est constructible au regard du document d'urbanisme en vigueur ?",
            ),
            (
                "La signature de l'acte authentique est prévue le {date}.",
                "Un plan de situation et un extrait cadastral sont joints.",
            ),
        ),
    ),
    T(
        "urbanisme",
        "letter",
        ("Déclaration d'intention d'aliéner", "DIA", "Droit de préemption", "Vente immobilière"),
        (
            (
                "Nous vous notifions une déclaration d'intention d'aliéner portant sur un bien bâti cadastré {parcel}.",
                "Maître {last}, notaire, vous adresse la déclaration d'intention d'aliéner relative à la vente de la maison de M. {last}.",
            ),
            (
                "Nous vous remercions de nous faire savoir si la commune entend exercer son droit de préemption urbain.",
                "Le prix convenu est de {amount} euros, frais d'agence inclus.",
            ),
        ),
    ),
    T(
        "urbanisme",
        "letter",
        ("Déclaration d'achèvement des travaux", "Fin de chantier", "Conformité des travaux"),
        (
            (
                "Je vous informe que les travaux autorisés par le permis de construire sont achevés depuis le {date}.",
                "Veuillez trouver ci-joint la déclaration attestant l'achèvement et la conformité des travaux.",
            ),
            (
                "L'attestation de prise en compte de la réglementation thermique est jointe.",
                "Je reste disponible pour une éventuelle visite de récolement.",
            ),
        ),
    ),
    T(
        "urbanisme",
        "request",
        ("Révision du PLU", "Classement de ma parcelle", "Observation sur le PLU", "Courrier"),
        (
            (
                "Dans le cadre de la révision du plan local d'urbanisme, je demande que ma parcelle {parcel} soit classée en zone constructible.",
                "Je souhaite formuler une observation sur le projet de zonage présenté lors de la réunion publique.",
            ),
            (
                "Ce terrain est desservi par les réseaux et jouxte des habitations existantes.",
                "Je vous remercie de transmettre ma demande au commissaire enquêteur.",
            ),
        ),
    ),
    # --- Services techniques ----------------------------------------------------------------------
    T(
        "technique",
        "complaint",
        ("Éclairage public", "Lampadaire en panne", "Rue plongée dans le noir", "Signalement"),
        (
            (
                "Depuis plusieurs semaines, le lampadaire situé devant le {number} {street} ne s'allume plus.",
                "L'éclairage public de notre quartier est éteint chaque soir depuis la tempête.",
                "Je vous signale qu'un candélabre penche dangereusement à l'angle de la rue.",
            ),
            (
                "Les enfants qui attendent le car scolaire le matin sont dans l'obscurité.",
                "Merci de faire intervenir une équipe pour la réparation.",
                "Plusieurs voisins se joignent à ma réclamation.",
            ),
        ),
    ),
    T(
        "technique",
        "complaint",
        ("Nids-de-poule", "État de la chaussée", "Voirie dégradée", "Chemin communal"),
        (
            (
                "La chaussée du {street} est criblée de nids-de-poule depuis les dernières pluies.",
                "Le chemin communal menant au hameau est devenu impraticable, le revêtement est arraché.",
                "Un trou profond s'est formé dans la route devant ma maison et abîme les véhicules.",
            ),
            (
                "J'ai déjà endommagé un pneu et je crains un accident pour les cyclistes.",
                "Un rebouchage provisoire serait le bienvenu en attendant une réfection.",
                "Je vous remercie de prévoir des travaux de voirie rapidement.",
            ),
        ),
    ),
    T(
        "technique",
        "request",
        (
            "Élagage",
            "Arbres en bordure de voie",
            "Branches dangereuses",
            "Platanes",
            "Demande d'intervention",
        ),
        (
            (
                "Les platanes bordant le {street} ont des branches qui touchent les fils électriques.",
                "Je vous demande de faire procéder à l'élagage des arbres communaux qui surplombent mon jardin.",
                "Les branches des tilleuls de la place masquent le panneau de signalisation.",
                "Un chêne de l'espace vert communal perd de grosses branches à chaque coup de vent.",
            ),
            (
                "Une taille avant l'hiver éviterait tout risque de chute.",
                "Les feuilles bouchent par ailleurs ma gouttière chaque automne.",
                "Merci d'inscrire cette intervention au programme de vos agents.",
            ),
        ),
    ),
    T(
        "technique",
        "complaint",
        ("Trottoir dégradé", "Accessibilité du trottoir", "Stationnement sur trottoir", "Réclamation"),
        (
            (
                "Le trottoir du {street} est soulevé par les racines et devient impraticable avec une poussette.",
                "Les bordures du trottoir devant l'école sont cassées depuis le passage d'un camion.",
                "Les personnes en fauteuil roulant ne peuvent plus emprunter le trottoir de notre rue.",
            ),
            (
                "Je sollicite une remise en état dans les meilleurs délais.",
                "Une simple reprise du revêtement suffirait.",
            ),
        ),
    ),
    T(
        "technique",
        "complaint",
        ("Fossé bouché", "Écoulement des eaux pluviales", "Inondation de ma cave", "Caniveau"),
        (
            (
                "Le fossé longeant le {street} n'est plus entretenu et déborde à chaque orage.",
                "L'avaloir situé devant chez moi est obstrué et l'eau de pluie envahit mon garage.",
                "Les eaux pluviales de la route ruissellent dans ma propriété faute de caniveau.",
            ),
            (
                "Un curage serait nécessaire avant la saison des pluies.",
                "Je vous joins des photographies prises lors du dernier orage.",
            ),
        ),
    ),
    T(
        "technique",
        "complaint",
        ("Dépôt sauvage", "Déchets abandonnés", "Encombrants", "Propreté"),
        (
            (
                "Un dépôt sauvage de gravats et de vieux meubles s'est formé près du point d'apport volontaire.",
                "Des sacs d'ordures sont régulièrement abandonnés au bord du chemin de la Fontaine.",
                "Les containers du hameau débordent et des déchets s'envolent dans les champs voisins.",
            ),
            (
                "Pourriez-vous faire procéder à l'enlèvement et envisager une surveillance ?",
                "La situation attire les rats et dégrade le paysage.",
            ),
        ),
    ),
    # --- Affaires scolaires -----------------------------------------------------------------------
    T(
        "scolaire",
        "request",
        ("Inscription à l'école", "Rentrée scolaire", "Inscription de mon fils", "Demande d'inscription"),
        (
            (
                "Nous venons d'emménager et souhaitons inscrire notre fils {child} en petite section de maternelle.",
                "Je souhaite inscrire ma fille {child} en CE1 à l'école communale à la rentrée de septembre.",
                "Pourriez-vous me transmettre le certificat d'inscription nécessaire pour l'admission à l'école ?",
            ),
            (
                "Vous trouverez ci-joint le carnet de vaccinations et un justificatif de domicile.",
                "La directrice de l'école nous a indiqué qu'il fallait d'abord passer en mairie.",
            ),
        ),
    ),
    T(
        "scolaire",
        "request",
        ("Cantine", "Restauration scolaire", "Repas à la cantine", "Menus", "Demande"),
        (
            (
                "Mon enfant souffre d'une allergie à l'arachide ; je souhaite mettre en place un projet d'accueil individualisé pour la cantine.",
                "Je souhaite inscrire mes deux enfants à la restauration scolaire les lundis et jeudis.",
                "Pourriez-vous m'indiquer les tarifs des repas de la cantine pour l'année scolaire ?",
            ),
            (
                "Le certificat médical du pédiatre est joint à ce courrier.",
                "Je vous remercie de transmettre ces informations au personnel de service.",
            ),
        ),
    ),
    T(
        "scolaire",
        "request",
        ("Garderie périscolaire", "Accueil du matin", "Centre de loisirs", "Activités du mercredi"),
        (
            (
                "En raison de mes horaires de travail, je souhaite que ma fille soit accueillie à la garderie dès 7 h 30.",
                "Je souhaite inscrire mon fils à l'accueil de loisirs du mercredi pendant la période scolaire.",
                "Les horaires de la garderie du soir ne permettent pas aux parents qui travaillent de récupérer leurs enfants.",
            ),
            (
                "Merci de me faire parvenir le dossier d'inscription périscolaire.",
                "Plusieurs familles partagent cette demande.",
            ),
        ),
    ),
    T(
        "scolaire",
        "complaint",
        ("Facture de cantine", "Contestation de la facture périscolaire", "Repas facturés à tort"),
        (
            (
                "La facture de cantine du mois de {month} compte des repas alors que mon fils était absent pour maladie.",
                "Je conteste les heures de garderie facturées en {month}, mes enfants n'y ayant pas été inscrits.",
            ),
            (
                "Je joins le certificat médical justifiant l'absence.",
                "Je vous remercie de corriger le relevé de présence de l'école.",
            ),
        ),
    ),
    T(
        "scolaire",
        "letter",
        ("Conseil d'école", "Compte rendu du conseil d'école", "Travaux dans l'école", "Effectifs"),
        (
            (
                "La directrice de l'école élémentaire vous transmet le compte rendu du conseil d'école du {date}.",
                "Les enseignants signalent que le chauffage des classes est insuffisant depuis la rentrée.",
                "Les effectifs prévus à la rentrée laissent craindre une fermeture de classe.",
            ),
            (
                "Nous souhaiterions évoquer ces points avec la municipalité.",
                "Les parents d'élèves élus se tiennent à votre disposition.",
            ),
        ),
    ),
    # --- Finances ---------------------------------------------------------------------------------
    T(
        "finances",
        "invoice",
        ("Facture n° {number}", "Envoi de facture", "Facturation des travaux", "Facture"),
        (
            (
                "Veuillez trouver ci-joint notre facture n° {number} d'un montant de {amount} euros TTC.",
                "Nous vous adressons la facture correspondant à la livraison de fournitures de bureau pour la mairie.",
                "Suite à l'intervention de notre technicien sur la chaudière de la salle des fêtes, nous vous adressons notre facture.",
            ),
            (
                "Le règlement est à effectuer par virement dans un délai de trente jours ; notre RIB est joint.",
                "Cette facture a été déposée sur le portail Chorus Pro.",
                "Nous restons à votre disposition pour toute question relative à ce document.",
            ),
        ),
    ),
    T(
        "finances",
        "letter",
        ("Relance de paiement", "Facture impayée", "Rappel", "Retard de paiement"),
        (
            (
                "Sauf erreur de notre part, notre facture n° {number} du {date} reste impayée à ce jour.",
                "Nous n'avons pas reçu le règlement de la facture relative à l'entretien des espaces verts.",
            ),
            (
                "Nous vous remercions de bien vouloir procéder au mandatement dans les meilleurs délais.",
                "Des intérêts moratoires seront dus en cas de retard.",
            ),
        ),
    ),
    T(
        "finances",
        "letter",
        ("Trésorerie", "Service de gestion comptable", "Rejet de mandat", "Pièces justificatives"),
        (
            (
                "Le service de gestion comptable vous informe du rejet du mandat n° {number} faute de pièce justificative.",
                "Le comptable public vous transmet l'état des restes à recouvrer de la commune.",
                "La trésorerie vous rappelle la date limite de transmission des titres de recette de l'exercice.",
            ),
            (
                "Nous vous remercions de régulariser la situation avant la clôture de l'exercice.",
                "Le détail des opérations figure en annexe.",
            ),
        ),
    ),
    T(
        "finances",
        "letter",
        (
            "Notification de dotation",
            "Dotation globale de fonctionnement",
            "Subvention accordée",
            "Versement",
        ),
        (
            (
                "La préfecture vous notifie le montant de la dotation globale de fonctionnement attribuée à la commune pour l'année.",
                "Le Département a le plaisir de vous informer de l'attribution d'une subvention de {amount} euros pour la réfection de la toiture de l'église.",
                "Nous vous informons du versement du fonds de compensation de la TVA au titre des dépenses de l'exercice précédent.",
            ),
            (
                "Le versement interviendra sur le compte de la commune auprès du Trésor public.",
                "L'arrêté attributif est joint au présent courrier.",
            ),
        ),
    ),
    T(
        "finances",
        "request",
        ("Devis", "Proposition commerciale", "Offre de prix"),
        (
            (
                "Suite à votre demande, nous vous adressons notre devis pour le remplacement des menuiseries de la mairie.",
                "Nous avons le plaisir de vous soumettre une offre de prix pour la fourniture de mobilier.",
            ),
            (
                "Ce devis est valable trois mois ; un bon de commande signé vaudra acceptation.",
                "Le montant total s'élève à {amount} euros hors taxes.",
            ),
        ),
    ),
    # --- CCAS / social ----------------------------------------------------------------------------
    T(
        "social",
        "request",
        ("Demande d'aide", "Situation difficile", "Aide financière", "Demande de secours"),
        (
            (
                "Je traverse une période de grandes difficultés financières depuis la perte de mon emploi.",
                "Mère isolée de trois enfants, je ne parviens plus à régler ma facture d'électricité.",
                "Je sollicite une aide exceptionnelle pour faire face au paiement de mon loyer.",
            ),
            (
                "Je souhaiterais rencontrer un membre du centre communal d'action sociale.",
                "Je joins mes justificatifs de ressources et mon avis d'imposition.",
                "L'assistante sociale du Département m'a conseillé de vous écrire.",
            ),
        ),
    ),
    T(
        "social",
        "request",
        ("Portage de repas", "Maintien à domicile", "Personne âgée isolée", "Téléassistance"),
        (
            (
                "Ma mère, âgée de 87 ans, vit seule et ne peut plus préparer ses repas.",
                "Je souhaite bénéficier du service de portage de repas à domicile.",
                "Mon père souhaite être équipé d'un dispositif de téléassistance.",
            ),
            (
                "Pourriez-vous nous indiquer les conditions et les tarifs ?",
                "Merci de nous orienter vers les aides possibles pour son maintien à domicile.",
            ),
        ),
    ),
    T(
        "social",
        "request",
        ("Logement social", "Demande de logement", "Relogement", "Dossier de logement"),
        (
            (
                "Je suis à la recherche d'un logement social adapté à ma situation familiale.",
                "Notre logement actuel est insalubre et nous souhaiterions être relogés.",
            ),
            (
                "Mon numéro unique de demandeur est joint.",
                "Je vous remercie d'appuyer ma demande auprès du bailleur.",
            ),
        ),
    ),
    T(
        "social",
        "letter",
        ("Banque alimentaire", "Colis de fin d'année", "Repas des aînés", "Collecte"),
        (
            (
                "La banque alimentaire vous informe des dates de la prochaine collecte nationale.",
                "Nous vous remercions pour les colis de Noël distribués aux personnes âgées de la commune.",
                "Le repas des aînés aura lieu le {date} ; voici la liste des inscrits.",
            ),
            (
                "Les bénévoles se tiennent à votre disposition.",
                "Merci de relayer cette information auprès des familles aidées.",
            ),
        ),
    ),
    # --- Élections --------------------------------------------------------------------------------
    T(
        "elections",
        "request",
        ("Inscription sur les listes électorales", "Listes électorales", "Changement d'adresse", "Demande"),
        (
            (
                "Récemment installé dans la commune, je souhaite m'inscrire sur la liste électorale.",
                "Je vous informe de mon déménagement au sein de la commune pour la mise à jour de ma carte électorale.",
                "Je n'ai pas reçu ma carte d'électeur et je crains d'avoir été radié.",
            ),
            (
                "Vous trouverez ci-joint un justificatif de domicile et la copie de ma pièce d'identité.",
                "Merci de me confirmer mon bureau de vote.",
            ),
        ),
    ),
    T(
        "elections",
        "letter",
        ("Procuration", "Vote par procuration", "Scrutin", "Assesseurs"),
        (
            (
                "Absent lors du prochain scrutin, j'ai établi une procuration au commissariat.",
                "Je me porte volontaire pour tenir le bureau de vote comme assesseur lors des élections.",
                "La préfecture vous rappelle l'organisation des bureaux de vote pour le scrutin à venir.",
            ),
            (
                "Merci de vérifier sa bonne prise en compte dans le répertoire électoral unique.",
                "Je suis disponible toute la journée du dimanche.",
            ),
        ),
    ),
    # --- Cimetière --------------------------------------------------------------------------------
    T(
        "cimetiere",
        "request",
        ("Concession", "Achat d'une concession", "Renouvellement de concession", "Sépulture familiale"),
        (
            (
                "Suite au décès de mon père, je souhaite acquérir une concession trentenaire au cimetière communal.",
                "La concession de la famille {last} arrive à échéance ; nous souhaitons la renouveler.",
                "Je souhaiterais réserver un emplacement au columbarium pour l'urne de mon épouse.",
            ),
            (
                "Pourriez-vous m'indiquer les tarifs en vigueur et les emplacements disponibles ?",
                "Les pompes funèbres prendront contact avec vous pour l'inhumation.",
                "Je joins la copie de l'acte de concession initial.",
            ),
        ),
    ),
    T(
        "cimetiere",
        "complaint",
        ("Entretien du cimetière", "Tombe dégradée", "Allées du cimetière", "Réclamation"),
        (
            (
                "Les allées du cimetière sont envahies par les herbes et l'accès aux tombes devient difficile.",
                "La sépulture de mes grands-parents a été endommagée lors de travaux sur un caveau voisin.",
            ),
            (
                "Je vous remercie de faire le nécessaire avant la Toussaint.",
                "Je souhaite qu'un constat soit établi.",
            ),
        ),
    ),
    T(
        "cimetiere",
        "request",
        ("Demande d'exhumation", "Transfert de corps", "Dispersion des cendres"),
        (
            (
                "Nous sollicitons l'autorisation d'exhumer le corps de notre mère afin de le transférer dans le caveau familial.",
                "Je souhaite disperser les cendres de mon mari au jardin du souvenir.",
            ),
            (
                "L'entreprise de pompes funèbres interviendra à la date que vous fixerez.",
                "Vous trouverez ci-joint l'accord des membres de la famille.",
            ),
        ),
    ),
    # --- Accueil et secrétariat -------------------------------------------------------------------
    T(
        "accueil",
        "request",
        (
            "Réservation de la salle des fêtes",
            "Location de salle",
            "Salle polyvalente",
            "Demande de réservation",
        ),
        (
            (
                "Je souhaite louer la salle des fêtes le samedi {date} pour l'anniversaire de ma mère.",
                "Notre association souhaite réserver la salle polyvalente pour son assemblée générale.",
                "Pourriez-vous me confirmer la disponibilité de la salle pour un repas de famille ?",
            ),
            (
                "Nous serons environ soixante personnes.",
                "Je m'engage à respecter le règlement intérieur et à verser la caution.",
            ),
        ),
    ),
    T(
        "accueil",
        "request",
        (
            "Demande de subvention",
            "Subvention associative",
            "Soutien à notre association",
            "Dossier de subvention",
        ),
        (
            (
                "Le club de football de la commune sollicite une subvention de fonctionnement pour la saison.",
                "Notre comité des fêtes vous adresse son dossier de demande de subvention.",
                "L'association des parents d'élèves sollicite le soutien de la municipalité pour le voyage de fin d'année.",
            ),
            (
                "Vous trouverez ci-joint le bilan financier et le rapport d'activité.",
                "Nous vous remercions de présenter notre demande au conseil municipal.",
            ),
        ),
    ),
    T(
        "accueil",
        "invitation",
        ("Invitation", "Inauguration", "Assemblée générale", "Cérémonie"),
        (
            (
                "Le président de l'amicale des anciens combattants a l'honneur de vous convier à la cérémonie du 11 novembre.",
                "Nous avons le plaisir de vous inviter à l'inauguration de la nouvelle caserne des pompiers.",
                "Le comité des fêtes vous invite à son assemblée générale le {date} à 18 heures.",
            ),
            (
                "Un vin d'honneur clôturera la manifestation.",
                "Merci de bien vouloir confirmer votre présence.",
            ),
        ),
    ),
    T(
        "accueil",
        "letter",
        (
            "Délibérations",
            "Compte rendu du conseil communautaire",
            "Information",
            "Courrier de la préfecture",
        ),
        (
            (
                "Je vous prie de trouver ci-joint les délibérations adoptées par le conseil communautaire.",
                "La sous-préfecture vous rappelle les modalités de transmission des actes au contrôle de légalité.",
                "La communauté de communes vous transmet le rapport annuel sur le prix et la qualité du service.",
            ),
            (
                "Ces documents doivent être tenus à la disposition du public.",
                "Je vous remercie de les communiquer aux conseillers municipaux.",
            ),
        ),
    ),
    T(
        "accueil",
        "request",
        ("Prêt de matériel", "Tables et chaises", "Fête de quartier", "Manifestation"),
        (
            (
                "Pour notre fête de quartier, nous souhaiterions emprunter des tables, des chaises et des barnums.",
                "Nous organisons un vide-greniers le dimanche {date} et sollicitons le prêt de matériel communal.",
            ),
            (
                "Nous nous chargerons du transport et du retour du matériel.",
                "Une buvette sera tenue par les bénévoles.",
            ),
        ),
    ),
)

VAGUE_SUBJECTS = ("Demande", "Courrier", "Votre courrier", "Renseignements", "Information", "Réclamation")
OPENINGS = (
    "Madame le Maire,",
    "Monsieur le Maire,",
    "Madame, Monsieur,",
    "Mesdames, Messieurs,",
)
CLOSINGS = (
    "Je vous prie d'agréer, Madame le Maire, l'expression de mes salutations distinguées.",
    "Veuillez agréer, Monsieur le Maire, l'expression de ma considération distinguée.",
    "Dans l'attente de votre réponse, je vous adresse mes sincères salutations.",
    "Avec mes remerciements anticipés, recevez mes meilleures salutations.",
    "Cordialement.",
)
ASIDES = (
    "Je vous remercie par avance de l'attention portée à ma demande.",
    "Je reste joignable au 06 12 34 56 78 pour tout complément.",
    "Je vous remercie pour l'accueil toujours aimable de vos agents.",
    "",
    "",
    "",
)
CHILDREN = ("Lucas", "Emma", "Jules", "Chloé", "Hugo", "Inès", "Louis", "Manon")
MONTHS = ("janvier", "mars", "avril", "juin", "septembre", "octobre", "novembre", "décembre")


@dataclass(frozen=True)
class CorpusLetter:
    service: str  # a key of SERVICES
    kind: str
    subject: str
    sender: str
    text: str  # the whole letter as its text layer or OCR would give it

    @property
    def service_name(self) -> str:
        return SERVICES[self.service]


def _fill(template: str, rng: random.Random, slots: dict[str, str]) -> str:
    return template.format(**slots)


def make_letter(rng: random.Random, topic: Topic, commune: str = "Saint-Aubin-les-Vignes") -> CorpusLetter:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    street = rng.choice(STREETS)
    slots = {
        "child": rng.choice(CHILDREN),
        "date": f"{rng.randint(1, 28)} {rng.choice(MONTHS)} 2026",
        "month": rng.choice(MONTHS),
        "street": street,
        "number": str(rng.randint(1, 999)),
        "amount": f"{rng.randint(80, 48000):,}".replace(",", " "),
        "parcel": f"{rng.choice('ABCDK')}{rng.choice('ABCDN')} {rng.randint(1, 640)}",
        "last": rng.choice(LAST_NAMES),
        "commune": commune,
    }
    subject = _fill(rng.choice(topic.subjects), rng, slots)
    if rng.random() < 0.15:
        subject = rng.choice(VAGUE_SUBJECTS)
    paragraphs = [_fill(rng.choice(options), rng, slots) for options in topic.paragraphs]
    if len(paragraphs) > 2 and rng.random() < 0.3:
        paragraphs.pop()
    aside = rng.choice(ASIDES)
    if aside:
        paragraphs.insert(rng.randint(0, len(paragraphs)), aside)
    sender = f"{first} {last}"
    lines = [
        sender,
        f"{rng.randint(1, 48)} {street}",
        f"34980 {commune}",
        "",
        "Mairie",
        f"34980 {commune}",
        "",
        f"{commune}, le {slots['date']}",
        f"Objet : {subject}",
        rng.choice(OPENINGS),
        *paragraphs,
        rng.choice(CLOSINGS),
        sender,
    ]
    return CorpusLetter(topic.service, topic.kind, subject, sender, "\n".join(lines))


def generate(count: int = 360, seed: int = 2026) -> list[CorpusLetter]:
    """``count`` letters, services drawn by their frequency, topics and wordings at random."""
    rng = random.Random(seed)
    by_service: dict[str, list[Topic]] = {}
    for topic in TOPICS:
        by_service.setdefault(topic.service, []).append(topic)
    services = list(FREQUENCY)
    weights = [FREQUENCY[s] for s in services]
    letters = []
    for _ in range(count):
        service = rng.choices(services, weights)[0]
        letters.append(make_letter(rng, rng.choice(by_service[service])))
    return letters


def ocr_noise(text: str, seed: int, rate: float = 0.02) -> str:
    """Characters misread as an OCR run on a scan would (at 0.02: about one character in a hundred)."""
    rng = random.Random(seed)
    swaps = {"e": "c", "l": "1", "o": "0", "i": "l", "m": "rn", "a": "à"}
    return "".join(swaps[ch] if ch in swaps and rng.random() < rate else ch for ch in text)


def split(letters: list[CorpusLetter], seed: int = 2026) -> tuple[list[CorpusLetter], list[CorpusLetter]]:
    """Two thirds to learn from, one third to test on (shuffled with a fixed seed)."""
    shuffled = list(letters)
    random.Random(seed + 1).shuffle(shuffled)
    cut = len(shuffled) * 2 // 3
    return shuffled[:cut], shuffled[cut:]
