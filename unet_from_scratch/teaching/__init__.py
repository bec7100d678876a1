"""What a course needs around the lessons in ``lessons/``.

    exercises   the checkers of the lessons' exercises: each runs a student's function on
                its own cases and names the mistake when it is wrong (those of lessons 05
                to 08, 10 and 11 live in ``exercises_network``, lesson 11's overlap-tile one
                in ``exercises_tiling``, lesson 09's in ``exercises_normalization``)
    grading     what the checkers share: calling the student's function, comparing, reporting
    mistakes    the answers common mistakes give, so that a checker can name them
    hidden      the grading cases (``check_...(fn, hidden=True)``), which the student
                versions leave out and ``nbgrader autograde`` runs
    delegation  the refusal of a function that calls the package's own implementation
    student     the student versions of the notebooks, as nbgrader's generate_assignment
                makes them (``unet-scratch lessons --student OUT_DIR``)
"""
