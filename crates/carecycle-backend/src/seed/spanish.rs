//! The knee unit's words in Spanish, stored with the seed as FHIR's
//! `translation` extension on the elements a patient reads.

use serde_json::Value;

/// The elements a patient reads that the knee unit wrote in both languages.
const TRANSLATED_ELEMENTS: &[&str] = &[
    "title",
    "description",
    "patientInstruction",
    "text",
    "availabilityExceptions",
];

/// The knee unit's words in Spanish (English as the team wrote it, Spanish).
const SPANISH: &[(&str, &str)] = &[
    // The care cycle and its phases.
    (
        "Right total knee replacement",
        "Reemplazo total de rodilla derecha",
    ),
    (
        "Your care from the first visit to one year after surgery.",
        "Su atención desde la primera visita hasta un año después de la cirugía.",
    ),
    ("Knee osteoarthritis", "Artrosis de rodilla"),
    ("Evaluation", "Evaluación"),
    (
        "We learn about your knee, your health and what matters to you.",
        "Conocemos su rodilla, su salud y lo que es importante para usted.",
    ),
    ("Shared decision", "Decisión compartida"),
    (
        "You and Dr. Okonkwo decide together whether surgery is right for you.",
        "Usted y el Dr. Okonkwo deciden juntos si la cirugía es adecuada para usted.",
    ),
    ("Prehabilitation", "Prehabilitación"),
    (
        "You get stronger and ready for surgery, and prepare your home.",
        "Se fortalece y se prepara para la cirugía, y prepara su casa.",
    ),
    ("Surgery", "Cirugía"),
    (
        "The day of your knee replacement.",
        "El día de su reemplazo de rodilla.",
    ),
    ("Hospital stay", "Estancia en el hospital"),
    (
        "You start walking with help and learn how to care for your knee.",
        "Empieza a caminar con ayuda y aprende a cuidar su rodilla.",
    ),
    ("Home rehabilitation", "Rehabilitación en casa"),
    (
        "Exercises at home and with your physical therapist to get moving again.",
        "Ejercicios en casa y con su fisioterapeuta para volver a moverse.",
    ),
    ("Follow-up at 2 weeks", "Seguimiento a las 2 semanas"),
    (
        "We check your wound and take out the staples; you keep building up your exercises.",
        "Revisamos la herida y quitamos las grapas; usted sigue aumentando sus ejercicios.",
    ),
    ("Follow-up at 6 weeks", "Seguimiento a las 6 semanas"),
    (
        "Dr. Okonkwo checks how your knee bends and when you can drive and return to work.",
        "El Dr. Okonkwo revisa cómo se dobla su rodilla y cuándo puede manejar y volver al trabajo.",
    ),
    ("Follow-up at 3 months", "Seguimiento a los 3 meses"),
    (
        "Most people are back to daily activities; we check your progress.",
        "La mayoría de las personas ya hace sus actividades diarias; revisamos su progreso.",
    ),
    ("Follow-up at 1 year", "Seguimiento al año"),
    (
        "We look at how well your new knee works for the long run.",
        "Vemos qué tan bien funciona su nueva rodilla a largo plazo.",
    ),
    // Appointments and how to prepare.
    (
        "First visit with the joint team",
        "Primera visita con el equipo de articulaciones",
    ),
    (
        "Bring your knee X-rays if you have them and a list of your medicines.",
        "Traiga sus radiografías de rodilla si las tiene y una lista de sus medicamentos.",
    ),
    (
        "Shared decision visit with Dr. Okonkwo",
        "Visita de decisión compartida con el Dr. Okonkwo",
    ),
    (
        "Write down your questions and what you most want to be able to do again.",
        "Anote sus preguntas y lo que más quiere volver a poder hacer.",
    ),
    (
        "Prehabilitation physical therapy",
        "Fisioterapia de prehabilitación",
    ),
    (
        "Wear comfortable clothes and shoes you can walk in. Bring your exercise log.",
        "Use ropa cómoda y zapatos para caminar. Traiga su registro de ejercicios.",
    ),
    ("Pre-operative assessment", "Evaluación preoperatoria"),
    (
        "Bring a list of every medicine you take, including vitamins and supplements.",
        "Traiga una lista de todos los medicamentos que toma, incluidos vitaminas y suplementos.",
    ),
    (
        "Joint replacement class",
        "Clase sobre el reemplazo de articulaciones",
    ),
    (
        "Bring the person who will help you at home after surgery.",
        "Venga con la persona que le ayudará en casa después de la cirugía.",
    ),
    (
        "Do not eat after midnight. You may drink clear liquids until 2 hours before you arrive. Arrive at 5:30 am.",
        "No coma después de la medianoche. Puede tomar líquidos claros hasta 2 horas antes de llegar. Llegue a las 5:30 a. m.",
    ),
    (
        "2-week check: wound and staples",
        "Control a las 2 semanas: herida y grapas",
    ),
    (
        "Wear loose trousers or shorts so we can see your knee.",
        "Use pantalones holgados o cortos para que podamos ver su rodilla.",
    ),
    (
        "6-week follow-up with Dr. Okonkwo",
        "Seguimiento a las 6 semanas con el Dr. Okonkwo",
    ),
    (
        "Bring your walking aid and your exercise log.",
        "Traiga su ayuda para caminar y su registro de ejercicios.",
    ),
    ("3-month follow-up", "Seguimiento a los 3 meses"),
    (
        "We will ask you a few questions about your knee before the visit.",
        "Le haremos algunas preguntas sobre su rodilla antes de la visita.",
    ),
    ("1-year follow-up", "Seguimiento al año"),
    // The checklist.
    (
        "Fill in your health history form",
        "Complete su formulario de antecedentes de salud",
    ),
    (
        "Your team uses it to plan safe care.",
        "Su equipo lo usa para planificar una atención segura.",
    ),
    (
        "Arrange a ride home and someone to stay with you",
        "Organice quién le lleve a casa y quién se quede con usted",
    ),
    (
        "You cannot drive for about 6 weeks. Plan for someone to stay with you for the first few days.",
        "No podrá manejar durante unas 6 semanas. Planee que alguien se quede con usted los primeros días.",
    ),
    (
        "Stop your blood thinner (apixaban)",
        "Deje de tomar su anticoagulante (apixabán)",
    ),
    (
        "Take your last dose 5 days before surgery, unless Dr. Okonkwo tells you otherwise. Call the pharmacist if you are unsure.",
        "Tome la última dosis 5 días antes de la cirugía, salvo que el Dr. Okonkwo le indique otra cosa. Llame al farmacéutico si tiene dudas.",
    ),
    ("Prepare your home", "Prepare su casa"),
    (
        "Remove loose rugs, put things you use every day at waist height, and set up a firm chair with arms.",
        "Quite las alfombras sueltas, ponga lo que usa a diario a la altura de la cintura y prepare una silla firme con brazos.",
    ),
    (
        "Shower with the antiseptic soap",
        "Dúchese con el jabón antiséptico",
    ),
    (
        "The evening before and the morning of surgery. Do not shave your leg.",
        "La noche anterior y la mañana de la cirugía. No se afeite la pierna.",
    ),
    (
        "Do your home exercises three times a day",
        "Haga sus ejercicios en casa tres veces al día",
    ),
    (
        "Follow the sheet from your physical therapist. A little pain is normal; stop if the pain is sharp.",
        "Siga la hoja de su fisioterapeuta. Un poco de dolor es normal; pare si el dolor es agudo.",
    ),
    // Questionnaire assignments.
    (
        "Knee health (KOOS JR) — baseline",
        "Salud de la rodilla (KOOS JR): inicio",
    ),
    (
        "General health (PROMIS) — baseline",
        "Salud general (PROMIS): inicio",
    ),
    (
        "Mood check (PHQ-9) — before surgery",
        "Estado de ánimo (PHQ-9): antes de la cirugía",
    ),
    (
        "General health (PROMIS) — before surgery",
        "Salud general (PROMIS): antes de la cirugía",
    ),
    (
        "Knee health (KOOS JR) — 6 weeks",
        "Salud de la rodilla (KOOS JR): 6 semanas",
    ),
    (
        "General health (PROMIS) — 6 weeks",
        "Salud general (PROMIS): 6 semanas",
    ),
    (
        "Knee health (KOOS JR) — 3 months",
        "Salud de la rodilla (KOOS JR): 3 meses",
    ),
    (
        "Mood check (PHQ-9) — 3 months",
        "Estado de ánimo (PHQ-9): 3 meses",
    ),
    (
        "Knee health (KOOS JR) — 1 year",
        "Salud de la rodilla (KOOS JR): 1 año",
    ),
    // The team: roles, and what to ask each about.
    ("Orthopaedic surgeon", "Cirujano ortopédico"),
    ("Nurse navigator", "Enfermera navegadora"),
    ("Physical therapist", "Fisioterapeuta"),
    ("Social worker", "Trabajador/a social"),
    ("Dietitian", "Dietista"),
    ("Pharmacist", "Farmacéutico/a"),
    ("Team captain", "Líder del equipo"),
    (
        "Questions about your surgery and whether it is the right choice for you",
        "Preguntas sobre su cirugía y si es la opción adecuada para usted",
    ),
    (
        "Anything at all: your schedule, your next steps, or a worry you are not sure about",
        "Cualquier cosa: su horario, sus próximos pasos o una preocupación que no sabe a quién decir",
    ),
    (
        "Your exercises before and after surgery, walking aids, stiffness",
        "Sus ejercicios antes y después de la cirugía, ayudas para caminar, rigidez",
    ),
    (
        "Help at home, transport, work leave, and how you are coping",
        "Ayuda en casa, transporte, permisos de trabajo y cómo lo está llevando",
    ),
    (
        "Eating well before surgery and healing afterwards",
        "Comer bien antes de la cirugía y sanar después",
    ),
    (
        "Your medicines, blood thinners, and pain relief",
        "Sus medicamentos, anticoagulantes y alivio del dolor",
    ),
];

/// Adds the Spanish of every element a patient reads that the table has, as
/// FHIR's `translation` extension, so the seeded record carries both languages.
pub(super) fn with_spanish(value: &mut Value) {
    match value {
        Value::Object(object) => {
            let found: Vec<(&str, &str)> = TRANSLATED_ELEMENTS
                .iter()
                .filter_map(|element| {
                    let english = object.get(*element)?.as_str()?;
                    let (_, spanish) = SPANISH.iter().find(|(en, _)| *en == english)?;
                    Some((*element, *spanish))
                })
                .collect();
            for (element, spanish) in found {
                carecycle_fhir::translation::add(object, element, "es", spanish);
            }
            for (key, child) in object.iter_mut() {
                if !key.starts_with('_') {
                    with_spanish(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(with_spanish),
        _ => {}
    }
}
