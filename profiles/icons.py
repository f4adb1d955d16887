"""The icons a profile can show: names from the vendored Lucide set (ISC
licence), whose SVGs live in static/icons/<name>.svg."""

ICONS = [
    ("circle-check", "Available"),
    ("building-2", "Office"),
    ("house", "Home"),
    ("circle-minus", "Do not disturb"),
    ("users", "Meeting"),
    ("calendar-clock", "Appointment"),
    ("door-open", "Out of the office"),
    ("palm-tree", "Holiday"),
    ("plane", "Travelling"),
    ("coffee", "Break"),
    ("utensils", "Lunch"),
    ("thermometer", "Sick"),
    ("headset", "On a call"),
    ("car", "Driving"),
    ("graduation-cap", "Training"),
    ("moon", "Off duty"),
    ("circle-off", "Unreachable"),
    ("circle", "Plain"),
]
ICON_NAMES = {name for name, _ in ICONS}
